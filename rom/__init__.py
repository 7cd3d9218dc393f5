"""Reduced-order models: POD, reduced basis, error estimators, EIM/DEIM, matrix EIM."""
