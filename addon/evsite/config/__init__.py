"""Site configuration: schemas, validation, typed models, defaults."""
