"""Admin of communications: campaigns."""
