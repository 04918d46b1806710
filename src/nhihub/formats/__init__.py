"""Upload files of NHI card-data format 2.0 and 1.0: record model, streaming reader, writer."""
