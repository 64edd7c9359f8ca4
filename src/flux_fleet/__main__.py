from flux_fleet.cli import run

run()
