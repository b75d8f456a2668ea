"""Alerts: rules, the alarm lifecycle and department notifications (webhook, e-mail,
MQTT). Not built yet: the alerts issue brings it."""
