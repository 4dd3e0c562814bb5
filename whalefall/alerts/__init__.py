"""Alerts: rule kinds registered by the apps, evaluated and delivered by the scheduler process."""
