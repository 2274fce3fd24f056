"""What the Chime proxy-session API is: the operation catalogue, the hosts that serve it, the
JSON Schemas of every part of every call, and validation against them."""
