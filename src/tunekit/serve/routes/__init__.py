"""One router per resource: predictions, explanations, the model, monitoring, health."""
