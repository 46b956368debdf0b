"""SoccerFactory flows."""
