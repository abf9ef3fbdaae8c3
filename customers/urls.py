from django.urls import path

from customers.views import addresses, backtest, customer_list, customers, follow_ups

app_name = "customers"

urlpatterns = [
    path("", customer_list.CustomerListView.as_view(), name="list"),
    path("new/", customers.CustomerCreateView.as_view(), name="create"),
    path("<int:pk>/", customers.CustomerDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", customers.CustomerUpdateView.as_view(), name="update"),
    path("<int:pk>/deactivate/", customers.customer_deactivate, name="deactivate"),
    path("<int:pk>/orders/", customers.customer_orders, name="orders"),
    path("<int:pk>/tags/", customers.customer_tag_add, name="tag_add"),
    path("<int:pk>/tags/<int:tag_pk>/remove/", customers.customer_tag_remove, name="tag_remove"),
    path("<int:pk>/notes/", customers.customer_notes, name="notes"),
    path("notes/<int:note_pk>/pin/", customers.note_pin, name="note_pin"),
    path("notes/<int:note_pk>/done/", customers.note_done, name="note_done"),
    path("scores/backtest/", backtest.BacktestView.as_view(), name="backtest"),
    path("follow-ups/", follow_ups.FollowUpListView.as_view(), name="follow_ups"),
    path("addresses/pending/", addresses.AddressQueueView.as_view(), name="address_queue"),
    path("addresses/<int:address_pk>/verify/", addresses.address_verify, name="address_verify"),
    path("addresses/<int:address_pk>/reject/", addresses.address_reject, name="address_reject"),
    path("addresses/verify/", addresses.addresses_verify_bulk, name="addresses_verify_bulk"),
]
