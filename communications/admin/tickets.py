"""Admin of communications: tickets."""
