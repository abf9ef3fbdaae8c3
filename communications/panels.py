"""What communications adds to the customer page: panels and timeline entries, registered with
core.registry when the app is ready."""
