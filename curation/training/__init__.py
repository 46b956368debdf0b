"""Training of the project's default models (dataset builders, YOLO fine-tuning, export)."""
