from routing_svc.bootstrap import main

raise SystemExit(main())
