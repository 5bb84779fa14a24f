from credit_platform.cli import main

raise SystemExit(main())
