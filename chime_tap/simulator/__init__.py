"""The built-in proxy-session service: sessions in memory, answers as the service gives them,
injected faults. Knows nothing of mitmproxy; ``addons/simulate.py`` puts it behind the proxy."""
