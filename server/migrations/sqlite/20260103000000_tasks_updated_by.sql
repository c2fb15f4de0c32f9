-- Who made a task's last change: the wire's `updated_by` (protocol v2). Every task so far
-- was changed only by the user it belongs to.
ALTER TABLE tasks ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
UPDATE tasks SET updated_by = (SELECT username FROM users WHERE users.id = tasks.user_id);
