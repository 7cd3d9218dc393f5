"""The HDF5 dataset format, grids/fields, torch datasets, import/export."""
