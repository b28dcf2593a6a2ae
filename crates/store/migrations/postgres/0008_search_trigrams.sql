-- History search over many records: a substring of file name, serial or group
-- (`search_text LIKE '%…%'`) is found through a trigram index instead of by reading every
-- record (140 ms → a few ms per page at 100 000 records). pg_trgm ships with PostgreSQL and is a
-- trusted extension (PostgreSQL 13+), so the database's owner may create it. Where it is not
-- installed or not permitted, search still works, by reading the records.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
            CREATE INDEX IF NOT EXISTS images_search_trgm
                ON images USING gin (search_text gin_trgm_ops);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm may not be created here: history search reads the records';
        END;
    END IF;
END
$$;
