"""The mitmproxy addons: classes that adapt mitmproxy's flows to chime-tap's core, nothing else.

Installed as ``chime_tap.addons``. ``record.py``, ``replay.py`` and ``simulate.py`` work with
``mitmdump -s addons/<entry>.py`` and mitmweb; ``announce.py`` serves the ``chime-tap`` commands.
What a call is, how it is checked, recorded, matched or answered lives in the core packages
(``chime_tap.api``, ``chime_tap.cassettes``, ``chime_tap.recording``, ``chime_tap.playback``,
``chime_tap.simulator``); an addon never imports another addon.
"""
