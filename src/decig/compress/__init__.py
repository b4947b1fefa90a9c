"""DECIG compression: the Stage I channel penalty and its α, and Stage II hinge pruning."""
