from fada_desk.cli import main

raise SystemExit(main())
