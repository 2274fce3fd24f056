"""chime-tap: record/replay proxy and traffic analyzer for the Amazon Chime proxy-session API."""

__version__ = "0.1.0"
