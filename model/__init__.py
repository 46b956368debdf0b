"""SoccerFactory model."""
