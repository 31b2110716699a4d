from otlp_bridge.cli import main

raise SystemExit(main())
