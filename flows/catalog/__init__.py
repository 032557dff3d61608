"""One module per flow; each registers itself with `flows.stage.flow`."""
