"""Example methods that are not registered: Tutorial 4 registers one in-process to show how a new
method joins the tables."""
