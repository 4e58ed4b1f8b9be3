from dispatch_svc.bootstrap import main

raise SystemExit(main())
