raise ImportError("the book own layers were imported")
