"""pytest plugin (entry point ``pytest11``): replay chime-tap cassettes in tests."""
