"""SoccerFactory storage."""
