"""Puts python/ on sys.path so the tests run without installing the package:
    .venv/bin/python -m pytest python/tests"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
