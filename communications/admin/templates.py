"""Admin of communications: templates."""
