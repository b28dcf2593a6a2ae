-- PostgreSQL adds a trigram index for history search at this step. SQLite has none: it
-- matches substrings by reading the one-column search text through the covering index
-- images_live (0003), which stays within a few tens of ms at 100 000 records.
SELECT 1;
