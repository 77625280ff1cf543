"""The reference platform server behind `gedge receiver`: API, per-device tokens, storage, board."""
