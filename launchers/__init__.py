"""Runner profiles: one `--runner NAME` selects a reviewed set of Beam options (see profiles.py)."""
