-- Version 2: the batch filter a conversation was last listed under (NULL: never listed,
-- or listed with no filter). A report under a filter reads only the conversations its own
-- listing found, whatever queue or agent the row names: the details query matches any
-- segment, the row keeps one queue and one agent.
ALTER TABLE conversations ADD COLUMN listed_under TEXT;
