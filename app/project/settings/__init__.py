"""Settings: base.py holds what every environment shares; each environment's own module is
mounted read-only at project/settings/<env>/settings.py when the container starts."""
