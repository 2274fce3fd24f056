"""What runs inside mitmproxy (record, validate, replay, simulate) and what those share.

Installed as ``chime_tap.addons``. The scripts here work with ``mitmdump -s addons/<entry>.py``.
"""
