"""SoccerFactory curation."""
