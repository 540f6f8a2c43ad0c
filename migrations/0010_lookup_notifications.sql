-- Every change to what a segmentation's lookups read is announced to every replica in the
-- transaction that makes it (delivered at its commit): its active run (an activation, a
-- rollback), its runs with assignments (a success, a retention drop), its deletion. Each
-- replica's lookup cache forgets that segmentation's record on hearing it, instead of
-- waiting for its TTL (which still applies while a replica is not listening).
CREATE FUNCTION segstore_announce_lookup_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('segstore_lookups',
                      (CASE WHEN TG_OP = 'DELETE' THEN OLD.segmentation_id
                            ELSE NEW.segmentation_id END)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER segmentations_announce_lookups
    AFTER UPDATE OF active_run_id OR DELETE ON segmentations
    FOR EACH ROW EXECUTE FUNCTION segstore_announce_lookup_change();

CREATE TRIGGER runs_announce_lookups
    AFTER UPDATE OF has_assignments ON runs
    FOR EACH ROW
    WHEN (OLD.has_assignments IS DISTINCT FROM NEW.has_assignments)
    EXECUTE FUNCTION segstore_announce_lookup_change();
