from django.conf import settings


def crm(request):
    """What every page's chrome needs: the CRM's name and its currency."""
    return {"crm_name": settings.CRM_NAME, "crm_currency": settings.CRM_CURRENCY}
