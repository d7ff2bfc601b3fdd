"""HTTP routers. Each module exposes ``router``; main.py includes them."""
