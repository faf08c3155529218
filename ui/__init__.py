"""Streamlit helpers shared by app.py and the pages: language, model loading, formatting."""
