"""Admin of communications: log."""
