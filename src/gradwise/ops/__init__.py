"""Differentiable operations: one small `Function` subclass per op, forward beside backward."""
