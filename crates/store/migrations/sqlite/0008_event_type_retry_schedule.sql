-- An event type's own retry schedule (`PUT /api/v1/event-type/{name}/retry-schedule`): a JSON
-- array of delays in milliseconds; NULL falls back to the server's schedule.
ALTER TABLE event_types ADD COLUMN retry_schedule TEXT;
