-- Appending an event is one statement: the event takes the user's next `seq`
-- (`log_seq + 1`), and this trigger records it as the user's last, in the same
-- statement and so the same transaction.
CREATE TRIGGER events_bump_log_seq AFTER INSERT ON events
BEGIN
    UPDATE users SET log_seq = NEW.seq WHERE id = NEW.user_id;
END;
