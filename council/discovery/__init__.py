"""Persona discovery: learn who the user is from their own chat history."""
