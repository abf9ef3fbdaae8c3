"""Big imports run as Celery jobs (services.py, tasks.py) and their admin (admin.py)."""
