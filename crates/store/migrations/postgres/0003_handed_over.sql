-- Deliveries a publish handed straight to a lane on its node are stored as sending (status 3)
-- with no due time, so they stay out of the due-time indexes (which every claim and record
-- would otherwise have to update). Should that node die before recording them, they are found
-- here once their lease (counted from updated_at) is over, and made due again.
CREATE INDEX deliveries_handed_over ON deliveries (updated_at) WHERE status = 3 AND next_attempt_at IS NULL;
