"""chime-tap: record/replay proxy and traffic analyzer for the Amazon Chime proxy-session API."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # The vcrpy configuration imports vcrpy; load it only when asked for.
    if name in ("chime_vcr", "make_vcr"):
        from chime_tap import vcr_config

        return getattr(vcr_config, name)
    raise AttributeError(f"module 'chime_tap' has no attribute {name!r}")
